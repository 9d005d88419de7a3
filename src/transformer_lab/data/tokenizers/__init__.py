"""Text to subword ids and back.

    bpe        Tokenizer: the joint byte-level BPE trained on the training split (pad/bos/eos/unk = 0/1/2/3)
    external   a tokenizer brought with `data.tokenizer_file`, remapped onto the fixed special ids
    sentencepiece_pair  SentencePiecePairTokenizer: an imported MarianMT's source and target sentencepiece models
               over one shared vocabulary (encode = source model, encode_target = target model)
    stored     tokenizer_from_json / load_tokenizer: any kind back from its stored JSON (checkpoints, the cache)
    sampling   reservoir sampling of training sentences for BPE training (`bpe_sample_sentences`)
"""
