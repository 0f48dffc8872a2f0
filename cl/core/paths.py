"""Where the package's configs (conf/, installed as cl.conf) and datasets (data/, as cl.data) are."""
import importlib.util

CONF_DIR = importlib.util.find_spec("cl.conf").submodule_search_locations[0]
DATA_DIR = importlib.util.find_spec("cl.data").submodule_search_locations[0]
