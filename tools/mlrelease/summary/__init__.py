"""Release summaries: a picture of traffic moving between versions, and the pipeline's Markdown.

The rehearsal (`mlrelease demo`) and the pipeline (`mlrelease summary`) draw the same picture
from the same step records; only where the records come from differs.
"""
