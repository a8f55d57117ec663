"""Sequence and structure files and external sequence tools (FASTA/Stockholm/dbn readers, MMseqs2).

Never shipped with a model folder.
"""
