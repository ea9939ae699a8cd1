"""Exit-criteria gates for gradual traffic restoration (canary, limited, majority, full).

Import-free on purpose: pytest loads the plugin on every run, and numpy is only needed once a gate
is actually evaluated. Import the submodules (`stats`, `phases`, `sources`, `criteria`) directly.
"""

from __future__ import annotations
