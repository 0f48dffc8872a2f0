"""The OmegaConf resolvers cl's configs use (${cl.data_dir:}, ${cl.unique:}), registered when
cl.assembly is imported: every path from a config to its parts goes through it."""
import os
import secrets

from omegaconf import OmegaConf

from cl.core.paths import DATA_DIR

OmegaConf.register_new_resolver("cl.data_dir", lambda: DATA_DIR, replace=True)  # ${paths.data_dir}
# ${cl.unique:}: a token that sets apart folders created in the same second, by other processes
# on this machine (pid) or on others sharing the file system (random). Cached, so every job of a
# multirun (Hydra copies the resolver cache into each job's config) sees the same value.
OmegaConf.register_new_resolver("cl.unique", lambda: f"{os.getpid()}-{secrets.token_hex(3)}", use_cache=True, replace=True)
