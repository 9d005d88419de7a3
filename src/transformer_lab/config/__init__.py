"""The lowest floor: what every other part may import to read and check configuration. One concept per module:

    checks         ConfigError; the value checks of config sections (types, ranges), naming the key
    parsing        dataclass_from_mapping (a section -> a typed dataclass), as_plain_dict (the checkpoint form)
    directory      config_dir / CONFIG_DIR: where the packaged Hydra configs live (wheel or checkout)
    sweep_values   the `${sweep_values:...}` resolver behind `seeds=[1,2,3]`

Import from the module that defines a name; this package file imports nothing.
"""
