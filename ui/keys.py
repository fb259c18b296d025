"""Session-state keys that more than one page reads, named once.

A page's own widget keys stay on the page (``train_lr``, ``net_layer`` ...); a key here is a
hand-off: one page writes it, another reads it.
"""

# The network the inspector (views/network.py) is editing: a spec dict. The training page
# offers it as "Your network (from the inspector)".
NETWORK_SPEC = "net_spec"
