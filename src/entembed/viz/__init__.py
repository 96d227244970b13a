"""Pictures of embeddings: 2-D maps (``reduce``), static PNG/SVG figures (``plot``) and the offline HTML
explorer (``html``). matplotlib, plotly, openTSNE and umap-learn are the ``viz`` extra, imported when used."""
