import unittest

from logic import rows_at_least


class RowsAtLeast(unittest.TestCase):
    def test_keeps_rows_at_or_above_the_minimum(self):
        self.assertEqual(rows_at_least([5, 10, 15, 10], 10), [1, 2, 3])
        self.assertEqual(rows_at_least([1, 2], 3), [])


if __name__ == "__main__":
    unittest.main()
