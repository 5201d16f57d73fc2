"""The types shared by DataProcessor's assets and resources (the component contract's data).

``dp_core`` imports neither ``dp_assets`` nor ``dp_resources``: both build on it, so neither has to
import the other to agree on what a component result, a runtime or a model reference is.
"""
