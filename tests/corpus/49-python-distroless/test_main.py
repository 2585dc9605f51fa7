import unittest

import main


class T(unittest.TestCase):
    def test_main(self):
        main.main()
