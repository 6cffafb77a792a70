"""Service rule compiler: Services and endpoints into nftables commands.

rows.py and arrays.py turn resolved service ports into flat arrays.
compiler.RuleCompiler turns those into nft command text, through a native
C++ twin (csrc/proxy/) or the pure-Python reference (_reference.py).
ruleset.py writes the fixed part of the table.
"""
