"""Ids to model inputs, and which examples go into a batch.

    encoding   the one place that adds eos/bos and pads: make_batch, encode_sources, length_sorted_batches
    samplers   TokenBucketBatchSampler (training: token buckets, sharded, stateful), EvalBatchSampler
"""
