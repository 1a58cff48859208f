"""kangaroo: long-context video understanding with video LLMs.

`import kangaroo` stays light: it imports no torch, no serving or training code.
The video input layer lives in `kangaroo.video`.
"""

__version__ = "0.1.0"
