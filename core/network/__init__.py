"""Networks: their definitions and address leases (kept in the state store),
network namespaces, published ports, and the interface of the backend plugin
that wires a namespace to its networks (husk.network.backend)."""
