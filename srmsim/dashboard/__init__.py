"""The interactive dashboard (``srmsim dashboard``): Mesa's SolaraViz on the trust model.

``settings`` turns a scenario into the few controls that matter and back into a scenario;
``model`` is the trust model the dashboard drives (with a "no policy" twin in lockstep);
``panels`` draws the figures; ``app`` is the Solara page ``srmsim dashboard`` serves.
Only ``panels`` and ``app`` need the optional ``dashboard`` extra (Solara).
"""
