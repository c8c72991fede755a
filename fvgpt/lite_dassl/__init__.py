"""Built-in subset of the Dassl engine, used when the real Dassl is not installed.

Dassl (https://github.com/KaiyangZhou/Dassl.pytorch) is not on PyPI. This package
re-implements the part of its API that CoOp-family trainers and dataset readers use,
under the same module layout (``config``, ``data``, ``data.datasets``,
``data.transforms``, ``engine``, ``evaluation``, ``metrics``, ``optim``, ``utils``),
so that :func:`fvgpt.dassl_backend.ensure_dassl` can register each module under its
``dassl.*`` name and unchanged ``from dassl... import ...`` code runs on it.

The API, default config values, checkpoint layout and log lines follow Dassl v0.6.3,
commit c61a1b570ac6333bd50fb5ae06aea59002fb20bb (2022-10-06). It is a subset: no
backbone zoo (``dassl.modeling``), no DA/DG/SSL trainers, only the samplers and
transforms CoOp-family configs use; asking for anything else raises a clear error.
Import it through ``fvgpt`` (``import fvgpt``), not directly.
"""

DASSL_API_VERSION = "0.6.3"
DASSL_API_COMMIT = "c61a1b570ac6333bd50fb5ae06aea59002fb20bb"
