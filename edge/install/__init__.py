"""Putting mallsense on a box: ``mallsense install``, the units' layout, the .deb builder.

``installer`` runs the idempotent steps (``files``, ``accounts``), ``layout`` knows
where everything goes and renders the units, ``template`` makes the configuration
template, ``debpkg`` builds the Debian package (``make deb``).
"""
