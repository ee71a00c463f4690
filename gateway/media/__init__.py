"""Media and equipment custody (4-8-5(4)-(9), 4-8-7(1), 4-8-12(2)): registry, requests, door
inspections, the ledger, overdue items, disposal and vault inventories."""
