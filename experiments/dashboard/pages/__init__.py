"""The dashboard's pages, one Flask blueprint each, with the JSON API that page polls.

    run.py        /            progress, curves, reward queue, learner, actors, pause / resume
    episodes.py   /episodes    episode browser: video, every source's score, oracle, safety
    label.py      /label       labelling queue (the `human` reward's web mode)
    agreement.py  /agreement   human labels against a reward model
    shared.py     what they share: the run they read, request checks, /media/<id>/<file>

The app (experiments.dashboard.app) registers them and guards every request.
"""
