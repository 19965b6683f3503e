"""Live traffic for the model service: a Locust load generator (locustfile.py) with delayed labels
and a drift switch, and the rows it sends (rows.py)."""
