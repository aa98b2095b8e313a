#define BOOST_TEST_MODULE unit_server
#include <boost/test/unit_test.hpp>
