"""Classroom tooling: turn tinydl's source into assignments, check them, and grade them.

The pieces, one job each:
  course.py         the course file (course.toml): assignments, tasks, points, hints
  markers.py        find and validate the solution blocks wrapped around code in the source
  tree.py           which files of a checkout belong in a student copy; atomic writes
  strip.py          ``tinydl assign strip``: write a student tree with solutions replaced
  verify.py         ``tinydl assign verify``: check the course is sound before handing it out
  runner.py         run one task's tests in a separate, time-limited pytest process
  pytest_plugin.py  the pytest plugin that process loads: select by task, record outcomes
  grade.py          ``tinydl assign grade / score / grade-class``: points, tables, Gradescope JSON
"""
