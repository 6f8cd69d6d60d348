"""Plan: what a run will cost before it starts (plan, estimate, costs, probe), the budget it is
cut to, the text that shows it (plan_text), the pre-flight of a run (preflight) and its ETA."""
