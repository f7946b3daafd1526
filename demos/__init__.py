"""Demo modules and games for stdb_game."""
