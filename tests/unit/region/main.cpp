#define BOOST_TEST_MODULE unit_region
#include <boost/test/unit_test.hpp>
