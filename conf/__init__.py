"""cl's Hydra configs (installed as the package data `cl.conf`; cl-run finds them there)."""
