"""A class on JupyterHub: the exchange service, its storage, the hub config and the client.

- `store`: releases, submissions and feedback (SQL rows, notebooks on disk by sha256);
- `exchange`: the Tornado service the hub runs (`mlkit exchange`), every call
  authenticated by the hub;
- `config`: a `jupyterhub_config.py` with the exchange, its roles and the instructors group;
- `spawner`, `accounts`, `image`: a class hub (`mlkit hub`): a container per learner,
  NativeAuthenticator accounts, the learner image;
- `client`: the calls learners and instructors make (`mlkit.submit()`, `mlkit fetch`, ...);
- `postgres`: a private PostgreSQL cluster on 127.0.0.1 for the store (tests, benchmark).
"""
