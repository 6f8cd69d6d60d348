"""Built-in workloads. Every module here that defines a Workload subclass is found by name;
adding one is adding a file (see the README's "Add a workload")."""
