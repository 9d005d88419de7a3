"""Special token ids shared by every tokenizer and the model (docs/ARCHITECTURE.md)."""

PAD_ID = 0
BOS_ID = 1
EOS_ID = 2
UNK_ID = 3

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # in id order
