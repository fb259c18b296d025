"""plotly figure builders: data in, ``go.Figure`` out. One module per page's subject:
``conv`` (arithmetic, sliding kernel), ``network`` (inspector), ``training`` (curves, schedules,
confusion), ``explain`` (filters, feature maps, attributions)."""
