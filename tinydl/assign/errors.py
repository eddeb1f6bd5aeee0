"""The one exception type the assignment tools raise for problems a teacher or student can fix."""


class AssignError(Exception):
    """A problem with a course, a source tree or a submission, worded so the reader can fix it.

    The ``tinydl`` command prints the message (without a traceback) and exits with status 2.
    """
