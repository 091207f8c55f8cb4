"""Regularised autoencoders (thesis ch. 6): RAE-GP/L2/SN, RAE, AE, VAE, CV-VAE, WAE and ex-post density estimation."""
