"""Replaced-token-detection pre-training: config, dynamic masking, the generator/discriminator pair, the loop."""
