"""The datasets that ship with cl (installed as the package data `cl.data`; `${paths.data_dir}`)."""
