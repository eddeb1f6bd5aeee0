"""Classroom tooling: turn tinydl's source into assignments, check them, and grade them.

A teacher's round, from a checkout that holds the solutions:

1. Wrap each piece of code students should write in a solution block (markers.py), with a
   task id "N.M"; list the task in course.toml with its points (course.py).
2. Mark its tests ``@pytest.mark.task("N.M")`` and ``@pytest.mark.points(k)``; tests only the
   grader should run go under ``tests/hidden/``.
3. ``tinydl assign verify``: solutions pass, stripped code fails every task test, nothing leaks.
4. ``tinydl assign strip --assignment N --out DIR``: the tree to hand out (with ASSIGNMENT.md).
5. Students run ``python -m tinydl assign score`` in their tree.
6. ``tinydl assign grade DIR --assignment N --json results.json`` for one submission
   (Gradescope), ``tinydl assign grade-class SUBMISSIONS --assignment N --csv scores.csv`` for
   all: the teacher's tests and tinydl in a trusted process, the student's code in a sandbox.

The pieces, one job each:
  course.py         the course file (course.toml): assignments, tasks, points, hints
  markers.py        find and validate the solution blocks wrapped around code in the source
  tree.py           which files of a checkout belong in a student copy; atomic writes
  strip.py          ``tinydl assign strip``: write a student tree with solutions replaced
  verify.py         ``tinydl assign verify``: check the course is sound before handing it out
  runner.py         run some tasks' tests in a separate, time-limited pytest process
  pytest_plugin.py  the pytest plugin that process loads: select by task, record outcomes,
                    route the task to the worker, search for leftover equivalents
  grade.py          ``tinydl assign grade / score / grade-class``: points, tables, Gradescope JSON
  proxy.py          the trusted side: the task's functions call the worker; results replayed
  sandbox.py        bubblewrap around the worker: namespaces, mounts, limits, timeouts
  worker.py         the sandboxed process that runs the student's functions
  wire.py           the pickle-free format (JSON header + raw array buffers) between them
"""
