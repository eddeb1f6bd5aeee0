"""Reference models the lessons train: GPT (a decoder-only language model) and BERT (an encoder
with a classifier and pretrained loading). Import them from their modules:
``from tinydl.models.gpt import GPT, GPTConfig``, ``from tinydl.models import bert``."""
