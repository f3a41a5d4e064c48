"""Apache Airflow provider for Cyberdesk: hook, deferrable operators, trigger, sensor, extra link.

Import from the submodules (``cyberdesk_airflow.operators``, ``.sensors``, ``.hooks``,
``.triggers``, ``.links``). This package module stays empty so that Airflow can read
``get_provider_info`` without importing Airflow or the Cyberdesk client.
"""
