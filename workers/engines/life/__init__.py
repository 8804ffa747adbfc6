"""Life insurance engines (specs/life.md): cash-flow BEL, classical values, mortality models.

``cashflow`` projects level term assurance monthly (model ``term_monthly``) and
``assumptions`` holds its basis; the classical, life-table and mortality-model modules
live beside them. Import submodules directly (``from workers.engines.life.cashflow import
project_term_monthly``); this package imports nothing on its own so that each engine loads
only what it needs.
"""
