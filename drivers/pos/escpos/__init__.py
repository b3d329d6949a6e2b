"""The ESC/POS interpreter: printer bytes -> printed text and receipt segments.

``escpos`` (the interpreter) uses ``commands`` (command lengths), ``payloads`` and
``image_guard`` (data-carrying commands and images that lie about their size),
``codepages`` / ``tables`` / ``printed`` (character tables and decoded text),
``sniff`` (``encoding = "auto"``: GB18030, Big5, UTF-8 or a code page, found per
printer from its text) and ``segment`` (receipt boundaries: cut, idle gap, size
bound). Pure: no clock, no port.
"""
