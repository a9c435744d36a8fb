"""What the model is fed: the question's image, VCD's diffusion noise and the probe inputs (None, Unk, Zero, One,
Noise) built from them."""
