"""In-sandbox runtime clients for lambent's managed runtimes.

Each ``lambent/runtimes/<language>/`` folder is copied to the sandbox dir and mounted read-only at
``/var/runtime`` inside the sandbox; its bootstrap is the environment's first process. The
bootstraps import nothing from lambent (they run under the sandbox's interpreter). How each
runtime is started is :mod:`lambent.control.runtimes`' business.
"""
