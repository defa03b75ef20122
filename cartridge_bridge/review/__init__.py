"""The review page of a run: Markdown a reviewer pastes into a pull request, with the Mermaid lineage."""
