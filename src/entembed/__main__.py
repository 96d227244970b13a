from entembed.cli import main

main()
