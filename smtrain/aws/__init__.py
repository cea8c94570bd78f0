"""AWS through boto3: sessions and clients, the one error translation, images and regions."""
