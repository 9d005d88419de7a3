"""Text to subword ids and back.

    bpe        Tokenizer: the joint byte-level BPE trained on the training split (pad/bos/eos/unk = 0/1/2/3)
    external   a tokenizer brought with `data.tokenizer_file`, remapped onto the fixed special ids
    sampling   reservoir sampling of training sentences for BPE training (`bpe_sample_sentences`)
"""
