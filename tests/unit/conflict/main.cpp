#define BOOST_TEST_MODULE unit_conflict
#include <boost/test/unit_test.hpp>
