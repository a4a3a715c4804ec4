"""Non-adversarial perturbations of the paper's section VI-B (Table I): pure, batched functions on images.

Every function takes ``images`` [N, 3, H, W] in [-1, 1] (on any device) and returns a new tensor of the same shape,
dtype and device, in [-1, 1]. Random ones take ``seeds``: one integer per row, each row drawing from its own
``torch.Generator`` (on the CPU, so the result does not depend on the device, the batch size or the row's position);
the build derives that integer per target with :func:`reconstruction_pipeline.targets.condition_seed`.

- :mod:`.codecs`: ``jpeg``, ``webp`` -- real codecs through Pillow;
- :mod:`.geometric`: ``blur``, ``noise``, ``mirror``, ``crop``, ``rotate``, ``zoom`` -- through kornia.

They are registered by name in :mod:`reconstruction_pipeline.conditions`, which validates parameters.
"""

from reconstruction_pipeline.perturbations.codecs import jpeg, webp
from reconstruction_pipeline.perturbations.geometric import blur, blur_sigma, crop, mirror, noise, rotate, zoom

__all__ = ["jpeg", "webp", "blur", "blur_sigma", "noise", "mirror", "crop", "rotate", "zoom"]
