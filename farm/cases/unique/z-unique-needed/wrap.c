/* An ordinary DSO that needs libuniq.so (DT_NEEDED): it reports where farm_value resolved
   for it, and where its own private global lives.  */

extern int farm_value;

int wrap_own;

int *
wrap_uniq_value (void)
{
  return &farm_value;
}

int *
wrap_own_value (void)
{
  return &wrap_own;
}
