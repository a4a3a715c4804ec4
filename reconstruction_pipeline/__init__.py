"""Offline half of the platform: generators, target synthesis, batched seed reconstruction, attribution,
display images and the stimulus bundle (paper "On Attribution of Deepfakes", Zhang et al., section IV)."""

__version__ = "0.1.0"
