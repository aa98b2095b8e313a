#define BOOST_TEST_MODULE unit_crdt
#include <boost/test/unit_test.hpp>
