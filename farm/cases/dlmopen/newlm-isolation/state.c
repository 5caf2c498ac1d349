/* A DSO with private static state: one copy per namespace it is loaded into.  */

static int counter;

int
state_bump (void)
{
  return ++counter;
}

int *
state_counter_address (void)
{
  return &counter;
}
